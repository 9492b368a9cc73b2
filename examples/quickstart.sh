#!/usr/bin/env bash
# Starts a single-node cluster on the embedded defaults (data in .tug/data), waits until it is ready, and creates the
# example application. The server keeps running in the background; its log is .tug/server.log.
#
#   ./examples/quickstart.sh [--port 6443] [--kubelet-port 10250] [--ingress-http-port 80] [--ingress-https-port 443]
#
# As root on Debian it first installs the packages Tugboat uses when they are missing (saying which). Pods run images
# in containerd; the example's busybox image is built offline from Debian's busybox-static and imported, so nothing is
# downloaded. Without containerd (or root) pods run their command on the host instead.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="$root/.tug/data"
server_args=()
while (($#)); do
  case "$1" in
    --port|--kubelet-port|--ingress-http-port|--ingress-https-port) server_args+=("$1" "$2"); shift 2 ;;
    *) echo "unknown option: $1 (options: --port, --kubelet-port, --ingress-http-port, --ingress-https-port)" >&2; exit 2 ;;
  esac
done
mkdir -p "$data"
export KUBECONFIG="$data/kubeconfig.yaml"
kubectl=${KUBECTL:-kubectl}

if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
  need=()
  [[ -x /usr/bin/containerd ]] || need+=(containerd)
  [[ -x /usr/sbin/runc ]] || need+=(runc)
  [[ -x /usr/bin/catatonit ]] || need+=(catatonit)
  [[ -x /bin/busybox ]] || need+=(busybox-static)
  [[ -x /usr/lib/cni/bridge ]] || need+=(containernetworking-plugins)
  command -v nft >/dev/null || need+=(nftables)
  command -v conntrack >/dev/null || need+=(conntrack)
  [[ -x /usr/sbin/nginx ]] || need+=(nginx-light)
  command -v curl >/dev/null || need+=(curl)
  if ((${#need[@]})); then
    echo "installing the Debian packages Tugboat uses: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
  fi
fi

if ! { [[ -f "$KUBECONFIG" ]] && "$kubectl" get --raw /readyz >/dev/null 2>&1; }; then
  if [[ ! -f "$root/.tug/bin/tug.dll" ]]; then
    echo "building tug (a minute or two the first time)..."
  fi
  "$root/tug" version >/dev/null   # builds tug when needed
  # The example's image, built offline and imported by the node agent at start.
  if [[ -x /bin/busybox && ! -f "$data/agent/images/busybox.tar" ]]; then
    mkdir -p "$data/agent/images"
    python3 "$root/examples/images/busybox-image.py" "$data/agent/images/busybox.tar" >/dev/null
  fi
  nohup "$root/tug" server --data-dir "$data" "${server_args[@]}" > "$root/.tug/server.log" 2>&1 &
  echo $! > "$root/.tug/server.pid"
  for _ in $(seq 1 100); do grep -q ready "$root/.tug/server.log" 2>/dev/null && break; sleep 0.1; done
  grep ready "$root/.tug/server.log" || { cat "$root/.tug/server.log"; exit 1; }
  grep -h "runtime" "$root/.tug/server.log" | head -2 || true
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
printf 'from %s, http://hello: ' "$pod"
"$kubectl" exec "$pod" -- /bin/sh -c 'printf "GET / HTTP/1.0\r\nHost: hello\r\n\r\n" | /bin/busybox nc -w 5 hello 80 | tail -n 1' || echo "(no answer)"
echo
echo "export KUBECONFIG=$KUBECONFIG   # to use kubectl with this cluster"
echo "kill \$(cat $root/.tug/server.pid); $root/tug killall --data-dir $data   # to stop it and its pods"
echo "With internet access, images come from registries as anywhere: kubectl create deployment web --image=nginx"
