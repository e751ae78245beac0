#!/bin/sh
# Checks that binaries and libraries import no networking functions: gptrec reads the files and
# streams it is given and never opens a connection (README "Limits and guarantees").
#   check_no_network.sh NM FILE...
# Fails, naming the symbol, when a FILE has an undefined reference to a socket or name-resolution
# function (or to syscall(), which could reach them without naming them).
set -eu
nm=$1
shift
forbidden='^(socket|socketpair|connect|bind|listen|accept|accept4|send|sendto|sendmsg|sendmmsg|recv|recvfrom|recvmsg|recvmmsg|getaddrinfo|getnameinfo|gethostbyname|gethostbyname2|gethostbyname_r|gethostbyaddr|res_query|res_search|syscall)$'
status=0
for file in "$@"; do
  # Undefined symbols, without their version suffix (connect@GLIBC_2.2.5); -D for shared objects
  # and executables, plain for static archives.
  case "$file" in
    *.a) symbols=$("$nm" --undefined-only "$file") ;;
    *) symbols=$("$nm" -D --undefined-only "$file") ;;
  esac
  found=$(printf '%s\n' "$symbols" | awk 'NF { print $NF }' | sed 's/@.*//' | grep -E "$forbidden" | sort -u || true)
  if [ -n "$found" ]; then
    echo "$file imports networking functions: $(echo $found)"
    status=1
  else
    echo "$file: no networking imports"
  fi
done
exit $status
