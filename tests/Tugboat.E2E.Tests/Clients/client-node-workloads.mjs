// Drives a Deployment and a custom resource with @kubernetes/client-node: create, list, watch, every patch type
// (JSON, merge, strategic merge, server-side apply), delete. Usage: node client-node-workloads.mjs KUBECONFIG
import * as k8s from '@kubernetes/client-node';
const kc = new k8s.KubeConfig();
kc.loadFromFile(process.argv[2]);
const apps = kc.makeApiClient(k8s.AppsV1Api);
const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
const custom = kc.makeApiClient(k8s.CustomObjectsApi);
const as = type => k8s.setHeaderOptions('Content-Type', type);
const namespace = 'default';

// Deployment
const events = [];
const watch = new k8s.Watch(kc);
const request = await watch.watch(`/apis/apps/v1/namespaces/${namespace}/deployments`, { labelSelector: 'from=node' },
  (type, obj) => events.push(`${type} ${obj.metadata.name} ${obj.spec.replicas}`), () => {});
await new Promise(r => setTimeout(r, 300));
const labels = { app: 'node-web' };
await apps.createNamespacedDeployment({ namespace, body: {
  metadata: { name: 'node-web', labels: { ...labels, from: 'node' } },
  spec: { replicas: 1, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'web', image: 'nginx:1.25' }] } } },
} });
const list = await apps.listNamespacedDeployment({ namespace, labelSelector: 'from=node' });
console.log('deployments ' + list.items.map(d => d.metadata.name).join(','));
let d = await apps.patchNamespacedDeployment({ name: 'node-web', namespace, body: [{ op: 'replace', path: '/spec/replicas', value: 2 }] }, as(k8s.PatchStrategy.JsonPatch));
console.log('json-patch replicas ' + d.spec.replicas);
d = await apps.patchNamespacedDeployment({ name: 'node-web', namespace, body: { metadata: { annotations: { note: 'merge' } } } }, as(k8s.PatchStrategy.MergePatch));
console.log('merge-patch note ' + d.metadata.annotations.note);
d = await apps.patchNamespacedDeployment({ name: 'node-web', namespace, body: { spec: { template: { spec: { containers: [{ name: 'side', image: 'busybox' }] } } } } }, as(k8s.PatchStrategy.StrategicMergePatch));
console.log('strategic containers ' + d.spec.template.spec.containers.map(c => c.name).join(','));
d = await apps.patchNamespacedDeployment({ name: 'node-web', namespace, fieldManager: 'node-apply', force: true, body: {
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'node-web' }, spec: { replicas: 3 },
} }, as(k8s.PatchStrategy.ServerSideApply));
console.log('apply replicas ' + d.spec.replicas + ' managers ' + d.metadata.managedFields.map(m => m.manager + ':' + m.operation).sort().join(','));
await apps.deleteNamespacedDeployment({ name: 'node-web', namespace });
for (let i = 0; i < 50 && !events.some(e => e.startsWith('DELETED')); i++) await new Promise(r => setTimeout(r, 100));
request.abort();
for (const e of events) console.log('watch ' + e);

// Custom resource
await ext.createCustomResourceDefinition({ body: {
  metadata: { name: 'gadgets.example.com' },
  spec: { group: 'example.com', scope: 'Namespaced', names: { plural: 'gadgets', singular: 'gadget', kind: 'Gadget' },
    versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: {
      spec: { type: 'object', properties: { size: { type: 'integer' }, tags: { type: 'array', items: { type: 'string' } } } } } } } }] },
} });
const crd = { group: 'example.com', version: 'v1', namespace, plural: 'gadgets' };
for (let i = 0; i < 50; i++) {
  try { await custom.listNamespacedCustomObject(crd); break; } catch { await new Promise(r => setTimeout(r, 100)); }
}
const crEvents = [];
const crRequest = await watch.watch(`/apis/example.com/v1/namespaces/${namespace}/gadgets`, {}, (type, obj) => crEvents.push(`${type} ${obj.metadata.name} ${obj.spec.size}`), () => {});
await new Promise(r => setTimeout(r, 300));
await custom.createNamespacedCustomObject({ ...crd, body: { apiVersion: 'example.com/v1', kind: 'Gadget', metadata: { name: 'g1' }, spec: { size: 1, tags: ['a'] } } });
console.log('gadgets ' + (await custom.listNamespacedCustomObject(crd)).items.map(g => g.metadata.name).join(','));
let g = await custom.patchNamespacedCustomObject({ ...crd, name: 'g1', body: [{ op: 'add', path: '/spec/tags/-', value: 'b' }] }, as(k8s.PatchStrategy.JsonPatch));
console.log('cr json-patch ' + g.spec.tags.join(','));
g = await custom.patchNamespacedCustomObject({ ...crd, name: 'g1', body: { spec: { size: 2 } } }, as(k8s.PatchStrategy.MergePatch));
console.log('cr merge-patch ' + g.spec.size);
try {
  await custom.patchNamespacedCustomObject({ ...crd, name: 'g1', body: { spec: { size: 3 } } }, as(k8s.PatchStrategy.StrategicMergePatch));
} catch (e) {
  console.log('cr strategic ' + e.code);
}
g = await custom.patchNamespacedCustomObject({ ...crd, name: 'g1', fieldManager: 'node-apply', force: true, body: { apiVersion: 'example.com/v1', kind: 'Gadget', metadata: { name: 'g1' }, spec: { size: 4 } } }, as(k8s.PatchStrategy.ServerSideApply));
console.log('cr apply ' + g.spec.size);
await custom.deleteNamespacedCustomObject({ ...crd, name: 'g1' });
for (let i = 0; i < 50 && !crEvents.some(e => e.startsWith('DELETED')); i++) await new Promise(r => setTimeout(r, 100));
crRequest.abort();
for (const e of crEvents) console.log('cr watch ' + e);
await ext.deleteCustomResourceDefinition({ name: 'gadgets.example.com' });
console.log('done');
