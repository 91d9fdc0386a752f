#!/bin/sh
# Prints the numeric user id the case runs as (65534 for "user": "nobody") and the directory.
id -u
pwd
