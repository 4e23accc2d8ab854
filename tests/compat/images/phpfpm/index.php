<?php
echo "hello from shielded php ", PHP_VERSION, " ", extension_loaded("ctype") ? "ext-ok" : "ext-missing", "\n";
