#!/bin/sh
# Fails if the consensus core's objects call I/O, clock or randomness functions, or hold
# mutable global/static data. The core must run identically in the simulator and the server.
set -eu
forbidden='read|write|pread|pwrite|readv|writev|send|sendto|sendmsg|recv|recvfrom|recvmsg|open|openat|close|fsync|fdatasync|clock_gettime|gettimeofday|time|rand|srand|random|srandom|getrandom|printf|fprintf|puts|fopen|fwrite|epoll_wait|poll|select|sleep|usleep|nanosleep|exit'
bad=0
for o in "$@"; do
  calls=$(nm -u "$o" | awk '{print $2}' | grep -E "^($forbidden)(@.*)?$" || true)
  if [ -n "$calls" ]; then echo "core purity: $o calls: $(echo $calls)"; bad=1; fi
  data=$(nm "$o" | awk '$2 ~ /^[DdBbCGgSs]$/ {print $3}' || true)
  if [ -n "$data" ]; then echo "core purity: $o has mutable static data: $(echo $data)"; bad=1; fi
done
[ $bad -eq 0 ] && echo "core purity: $# objects, no I/O, clock or randomness calls, no mutable statics"
exit $bad
