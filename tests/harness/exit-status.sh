#!/bin/sh
# Harness self-test: prints its arguments and exits with the first one, to
# check that scripts/vm-run passes arguments and returns the status.
old_ifs=$IFS; IFS='|'; echo "args: $*"; IFS=$old_ifs
exit "$1"
