#!/usr/bin/env bash
# Starts a single-node cluster on the embedded defaults (data in .tug/data), waits until it is ready, and creates the
# example application. The server keeps running in the background; its log is .tug/server.log.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="$root/.tug/data"
mkdir -p "$data"
export KUBECONFIG="$data/kubeconfig.yaml"
kubectl=${KUBECTL:-kubectl}
if ! { [[ -f "$KUBECONFIG" ]] && "$kubectl" get --raw /readyz >/dev/null 2>&1; }; then
  "$root/tug" version >/dev/null   # builds tug when needed
  nohup "$root/tug" server --data-dir "$data" > "$root/.tug/server.log" 2>&1 &
  echo $! > "$root/.tug/server.pid"
  for _ in $(seq 1 100); do grep -q ready "$root/.tug/server.log" 2>/dev/null && break; sleep 0.1; done
  grep ready "$root/.tug/server.log" || { cat "$root/.tug/server.log"; exit 1; }
fi
"$kubectl" create -f "$root/examples/hello.yaml" 2>&1 | grep -v AlreadyExists || true
"$kubectl" rollout status deployment/hello --timeout=120s
"$kubectl" get all,configmaps -l app=hello -o wide
echo
# Each replica has its own pod IP on this machine's pod network (needs root; without it pods share the host network).
for ip in $("$kubectl" get pods -l app=hello -o jsonpath='{.items[*].status.podIP}'); do
  printf '%s: ' "$ip"; curl -s --max-time 5 "http://$ip:8080/" || echo "(no answer)"
done
echo
# The Service balances over the ready replicas: its node port answers on 127.0.0.1, its cluster IP on this machine
# and in pods, and pods find it by name through the cluster DNS.
port=$("$kubectl" get service hello -o jsonpath='{.spec.ports[0].nodePort}')
for _ in 1 2 3 4 5 6; do
  printf '127.0.0.1:%s: ' "$port"; curl -s --max-time 5 "http://127.0.0.1:$port/" || echo "(no answer)"
done
pod=$("$kubectl" get pods -l app=hello -o jsonpath='{.items[0].metadata.name}')
printf 'from %s, http://hello: ' "$pod"; "$kubectl" exec "$pod" -- curl -s --max-time 5 http://hello/ || echo "(no answer)"
echo
echo "export KUBECONFIG=$KUBECONFIG   # to use kubectl with this cluster"
echo "kill \$(cat $root/.tug/server.pid); $root/tug killall --data-dir $data   # to stop it and its pods"
