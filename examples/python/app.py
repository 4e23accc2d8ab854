#!/usr/bin/env python3
"""A small app: reads its own data, computes, prints."""
import hashlib
import json
import os
import sys

data = {"argv": sys.argv[1:], "cwd": os.getcwd(), "python": sys.version.split()[0]}
digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
print(f"python app ok: {json.dumps(data, sort_keys=True)} {digest}")
sys.exit(int(os.environ.get("APP_EXIT", "0")))
