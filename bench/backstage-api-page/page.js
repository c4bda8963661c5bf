// Fetch the API entity named by ?entity= from Backstage's catalog API (proxied by the page's
// server, which adds the token) and show it as Backstage's API page would: About and Links
// cards, then spec.definition in Swagger UI. Sets window.pageState for the screenshot script.
const SYNC_STATUS = 'microcks-pipeline/sync-status';

function text(id, value) {
  document.getElementById(id).textContent = value;
}

function fact(list, label, value) {
  if (!value) return;
  const term = document.createElement('dt');
  term.textContent = label;
  const detail = document.createElement('dd');
  detail.textContent = value;
  list.append(term, detail);
}

function showLinks(links) {
  const list = document.getElementById('links');
  for (const link of links) {
    const item = document.createElement('li');
    const anchor = document.createElement('a');
    anchor.href = link.url;
    anchor.textContent = link.title || link.url;
    const url = document.createElement('span');
    url.className = 'url';
    url.textContent = link.url;
    item.append(anchor, url);
    list.append(item);
  }
  if (!links.length) list.textContent = 'No links';
}

async function main() {
  const name = new URLSearchParams(location.search).get('entity');
  const response = await fetch(`/api/catalog/entities/by-name/api/default/${encodeURIComponent(name)}`);
  if (!response.ok) throw new Error(`catalog API answered ${response.status}`);
  const entity = await response.json();
  const { metadata, spec } = entity;
  document.title = metadata.title || metadata.name;
  text('title', metadata.title || metadata.name);
  text('kind', `API — ${spec.type}`);
  text('description', metadata.description || '');
  const facts = document.getElementById('facts');
  fact(facts, 'Owner', spec.owner);
  fact(facts, 'Lifecycle', spec.lifecycle);
  fact(facts, SYNC_STATUS, (metadata.annotations || {})[SYNC_STATUS]);
  showLinks(metadata.links || []);
  // As swagger-ui-react does with a string spec: the definition text, YAML or JSON, as is.
  const ui = SwaggerUIBundle({ dom_id: '#swagger-ui', deepLinking: true });
  ui.specActions.updateSpec(spec.definition);
  window.pageState = 'rendered';
}

main().catch(error => {
  window.pageState = `failed: ${error.message}`;
  document.body.prepend(`Failed: ${error.message}`);
});
