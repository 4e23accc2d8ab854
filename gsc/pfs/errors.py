"""The one error type of gsc.pfs: a refusal with Gramine's status and the stage it happened at."""

from __future__ import annotations

from gsc.errors import VerificationError

# Gramine's pf_status_t values that a reader or writer of this format can produce.
STATUS_NAMES: dict[int, tuple[str, str]] = {
    -3: ("PF_STATUS_INVALID_PARAMETER", "Invalid parameter"),
    -6: ("PF_STATUS_INVALID_VERSION", "Invalid version"),
    -7: ("PF_STATUS_INVALID_HEADER", "Invalid header"),
    -8: ("PF_STATUS_INVALID_PATH", "Invalid path"),
    -11: ("PF_STATUS_CALLBACK_FAILED", "Callback failed"),
    -12: ("PF_STATUS_PATH_TOO_LONG", "Path is too long"),
}

INVALID_PARAMETER = -3
INVALID_VERSION = -6
INVALID_HEADER = -7
INVALID_PATH = -8
CALLBACK_FAILED = -11
PATH_TOO_LONG = -12


class PfError(VerificationError):
    """A protected file was refused (or could not be written).

    `stage` is "open", "read" or "write"; `status` is Gramine's pf_status_t value for the same
    refusal; `offset` the plaintext offset of the failing read (None at open); `detail` says
    which check failed; `subject` (optional) names the file.
    """

    def __init__(
        self,
        stage: str,
        status: int,
        detail: str,
        offset: int | None = None,
        subject: str | None = None,
    ) -> None:
        self.stage = stage
        self.status = status
        self.status_name, self.status_message = STATUS_NAMES.get(
            status, ("PF_STATUS_UNKNOWN_ERROR", "Unknown error")
        )
        self.offset = offset
        self.detail = detail
        where = stage if offset is None else f"{stage} at offset {offset}"
        self.subject = subject
        text = f"encrypted file refused at {where}: {self.status_message} ({detail})"
        super().__init__(text if subject is None else f"{subject}: {text}")
