// onetask-client in Node with the `ws` package, against a real server (run by
// tests/tools/test_js_client.py; not part of `npm test`, which needs no server).
//   node test/e2e/node-client.mjs BASE_URL USERNAME PASSWORD
// Prints one JSON line: what the subscription saw.
import { WebSocket } from "ws";
import { OneTaskClient } from "../../dist/index.js";

const [base, username, password] = process.argv.slice(2);
const client = new OneTaskClient({ baseUrl: base, WebSocket });
await client.login(username, password);
const workspace = await client.workspaces.create("node client");
const seen = [];
const done = new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error(`timed out; saw ${JSON.stringify(seen)}`)), 30_000);
  client.subscribe({ workspace: workspace.id }, {
    connected: async () => {
      const task = await client.tasks.create(workspace.id, { title: "from node" });
      await client.tasks.complete(task.id);
    },
    task_update: (m) => {
      seen.push({ seq: m.seq, action: m.action, title: m.data.title });
      if (seen.length === 2) {
        clearTimeout(timer);
        resolve();
      }
    },
    onStop: (info) => reject(new Error(`stopped: ${JSON.stringify(info)}`)),
  });
});
await done;
let missing = null;
try {
  await client.tasks.get(999999999);
} catch (error) {
  missing = { name: error.name, status: error.status, title: error.title };
}
client.close();
console.log(JSON.stringify({ seen, missing }));
