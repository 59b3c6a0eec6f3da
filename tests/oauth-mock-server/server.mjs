// Starts oauth2-mock-server on an ephemeral loopback port and prints its issuer URL as one JSON
// line, for Patchbay's tests. Stops when stdin closes (the test process went away).
import { OAuth2Server } from 'oauth2-mock-server';

const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');
await server.start(0, '127.0.0.1');
const { port } = server.address();
server.issuer.url = `http://127.0.0.1:${port}`;
console.log(JSON.stringify({ url: server.issuer.url }));
process.stdin.resume();
process.stdin.on('end', async () => {
  await server.stop();
  process.exit(0);
});
