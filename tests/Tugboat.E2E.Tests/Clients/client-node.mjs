// Drives a cluster with @kubernetes/client-node: list, create, merge patch, replace, watch, delete. Usage: node client-node.mjs KUBECONFIG
import * as k8s from '@kubernetes/client-node';
const kc = new k8s.KubeConfig();
kc.loadFromFile(process.argv[2]);
const core = kc.makeApiClient(k8s.CoreV1Api);
const apps = kc.makeApiClient(k8s.AppsV1Api);
const ns = await core.listNamespace();
console.log('namespaces ' + ns.items.map(n => n.metadata.name).sort().join(','));
const cm = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'node-cm', labels: { from: 'node' } }, data: { a: 'b' } } });
console.log('created ' + cm.metadata.name);
const patched = await core.patchNamespacedConfigMap({ name: 'node-cm', namespace: 'default', body: { data: { c: 'd' } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
console.log('patched ' + JSON.stringify(patched.data));
const events = [];
const watch = new k8s.Watch(kc);
const request = await watch.watch('/api/v1/namespaces/default/configmaps', { labelSelector: 'from=node', resourceVersion: cm.metadata.resourceVersion },
  (type, obj) => events.push(type + ' ' + obj.metadata.name + ' ' + JSON.stringify(obj.data)), () => {});
await core.replaceNamespacedConfigMap({ name: 'node-cm', namespace: 'default', body: { ...patched, data: { e: 'f' } } });
await core.deleteNamespacedConfigMap({ name: 'node-cm', namespace: 'default' });
for (let i = 0; i < 50 && events.length < 3; i++) await new Promise(r => setTimeout(r, 100));
request.abort();
for (const e of events) console.log('watch ' + e);
const deployments = await apps.listDeploymentForAllNamespaces();
console.log('deployments ' + deployments.items.length);
try {
  await core.readNamespacedConfigMap({ name: 'node-cm', namespace: 'default' });
} catch (e) {
  console.log('gone ' + e.code);
}
