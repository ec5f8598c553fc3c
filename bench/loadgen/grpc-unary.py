"""Times unary gRPC calls with gRPC's C core (Debian: python3-grpcio), for bench/nodeagent.bench.ts.

The kubelet calls device plugins with grpc-go; a grpc-js client on the same two
cores adds its own event-loop and GC stalls to every timing. This client sends
pre-encoded request bytes, so neither side spends time on the client's encoding.

usage: grpc-unary.py SOCKET METHOD_PATH REQUEST_FILE WARMUP COUNT
prints a JSON list of COUNT latencies in milliseconds.
"""
import json
import sys
import time

import grpc


def main() -> None:
    sock, method, request_file, warmup, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    with open(request_file, "rb") as f:
        request = f.read()
    with grpc.insecure_channel("unix:" + sock) as channel:
        call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        for _ in range(warmup):
            call(request, timeout=10)
        out = []
        for _ in range(count):
            t = time.perf_counter()
            call(request, timeout=10)
            out.append((time.perf_counter() - t) * 1000)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
