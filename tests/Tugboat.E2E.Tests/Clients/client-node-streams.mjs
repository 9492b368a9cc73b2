// Streams to a running pod with @kubernetes/client-node: exec (output, stdin, exit status) and port-forward over
// WebSocket. Usage: node client-node-streams.mjs KUBECONFIG NAMESPACE POD CONTAINER PORT
import * as k8s from '@kubernetes/client-node';
import net from 'node:net';
import http from 'node:http';
import crypto from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
const [, , kubeconfig, namespace, pod, container, port] = process.argv;
const kc = new k8s.KubeConfig();
kc.loadFromFile(kubeconfig);

// exec: stdout, stderr, stdin and the final status.
const exec = new k8s.Exec(kc);
async function run(command, input) {
  const out = new PassThrough(), err = new PassThrough();
  const chunks = { out: [], err: [] };
  out.on('data', d => chunks.out.push(d));
  err.on('data', d => chunks.err.push(d));
  const status = await new Promise((resolve, reject) => {
    exec.exec(namespace, pod, container, command, out, err, input ? Readable.from([input]) : null, false, resolve).catch(reject);
  });
  return { out: Buffer.concat(chunks.out).toString(), err: Buffer.concat(chunks.err).toString(), status };
}
let r = await run(['sh', '-c', 'echo hello from $(hostname); echo warn >&2']);
console.log(`exec out=${JSON.stringify(r.out)} err=${JSON.stringify(r.err)} status=${r.status.status}`);
r = await run(['sh', '-c', 'wc -c; exit 3'], 'twelve bytes');
console.log(`exec stdin out=${r.out.trim()} status=${r.status.status} reason=${r.status.reason} code=${r.status.details?.causes?.[0]?.message}`);

// port-forward: a local listener whose connections are forwarded over one WebSocket each.
const forward = new k8s.PortForward(kc);
const server = net.createServer(socket => { forward.portForward(namespace, pod, [Number(port)], socket, null, socket).catch(e => socket.destroy(e)); });
await new Promise(resolve => server.listen(0, '127.0.0.1', resolve));
const local = server.address().port;
for (const path of ['/blob', '/blob']) {
  const body = await new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: local, path, agent: false }, res => {
      const parts = [];
      res.on('data', d => parts.push(d));
      res.on('end', () => resolve(Buffer.concat(parts)));
      res.on('error', reject);
    }).on('error', reject);
  });
  console.log(`portforward ${path} bytes=${body.length} md5=${crypto.createHash('md5').update(body).digest('hex')}`);
}
server.close();
console.log('done');
process.exit(0);
