# Drives a cluster with the official Python client: list, create, strategic patch, watch, delete. Usage: python3 client-python.py KUBECONFIG
import sys
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

config.load_kube_config(sys.argv[1])
v1 = client.CoreV1Api()
print("namespaces " + ",".join(sorted(n.metadata.name for n in v1.list_namespace().items)))
cm = v1.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="py-cm"), data={"a": "b"}))
print("created " + cm.metadata.name)
patched = v1.patch_namespaced_config_map("py-cm", "default", {"data": {"c": "d"}})
print("patched " + ",".join(f"{k}={v}" for k, v in sorted(patched.data.items())))
for event in watch.Watch().stream(v1.list_namespaced_config_map, "default", field_selector="metadata.name=py-cm", timeout_seconds=2):
    print("watch " + event["type"] + " " + event["object"].metadata.name)
v1.delete_namespaced_config_map("py-cm", "default")
try:
    v1.read_namespaced_config_map("py-cm", "default")
except ApiException as e:
    print(f"gone {e.status}")
