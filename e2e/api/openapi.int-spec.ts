/** The OpenAPI document covers every route the app registers, each with documented responses. */
import { type ControlPlane, http, startControlPlane } from '../support/control-plane';

/** `METHOD /path/{param}` of every route Express knows under /api/v1 (Nest registers them there). */
function expressRoutes(cp: ControlPlane): string[] {
  const app = cp.gateway.app.getHttpAdapter().getInstance();
  const stack: any[] = (app.router ?? app._router).stack;
  const out: string[] = [];
  for (const layer of stack) {
    if (!layer.route || typeof layer.route.path !== 'string' || !layer.route.path.startsWith('/api/v1/')) continue;
    for (const method of Object.keys(layer.route.methods))
      if (method !== '_all') out.push(`${method.toUpperCase()} ${layer.route.path.replace(/:(\w+)/g, '{$1}')}`);
  }
  return [...new Set(out)].sort();
}

describe('OpenAPI', () => {
  let cp: ControlPlane;
  let doc: any;
  beforeAll(async () => {
    cp = await startControlPlane();
    const r = await http('GET', `${cp.api.replace('/api/v1', '')}/api/docs-json`, undefined, {}, { auth: false });
    expect(r.status).toBe(200);
    doc = r.body;
  });
  afterAll(() => cp?.close());

  it('lists every registered route with a summary and at least one documented response', () => {
    const routes = expressRoutes(cp);
    expect(routes.length).toBeGreaterThan(20);
    const documented: string[] = [];
    for (const [p, ops] of Object.entries<any>(doc.paths)) for (const m of Object.keys(ops)) documented.push(`${m.toUpperCase()} ${p}`);
    expect(documented.sort()).toEqual(expect.arrayContaining(routes));
    for (const route of routes) {
      const [m, p] = route.split(' ');
      const op = doc.paths[p][m.toLowerCase()];
      expect({ route, responses: Object.keys(op.responses ?? {}).length > 0 }).toEqual({ route, responses: true });
    }
    // ours in full: summary, error shape, bearer auth
    for (const route of [
      'POST /api/v1/vms',
      'GET /api/v1/vms/{id}',
      'POST /api/v1/clusters',
      'POST /api/v1/tokens',
      'GET /api/v1/events',
      'DELETE /api/v1/tokens/{id}',
    ]) {
      const [m, p] = route.split(' ');
      const op = doc.paths[p][m.toLowerCase()];
      expect({ route, summary: typeof op.summary }).toEqual({ route, summary: 'string' });
      expect({ route, errors: ['401', '403'].every((s) => op.responses[s]) }).toEqual({ route, errors: true });
      expect(op.security).toEqual([{ token: [] }]);
    }
    expect(doc.paths['/api/v1/health'].get.security).toBeUndefined();
  });

  it('documents bodies from the DTOs with examples, and the error shape', () => {
    expect(doc.components.securitySchemes.token).toMatchObject({ type: 'http', scheme: 'bearer' });
    const createVm = doc.components.schemas.CreateVm;
    expect(createVm.required).toEqual(expect.arrayContaining(['clusterId', 'nodeId', 'name', 'ownerId']));
    expect(createVm.properties.name.example).toBe('web1');
    expect(createVm.properties.driver.enum).toEqual(expect.arrayContaining(['tap', 'veth', 'netns']));
    expect(doc.paths['/api/v1/vms'].post.requestBody.content['application/json'].schema.$ref).toBe('#/components/schemas/CreateVm');
    expect(doc.components.schemas.CreateCluster.properties.routeReflectors).toMatchObject({
      type: 'array',
      items: { $ref: '#/components/schemas/RouteReflectorInput' },
    });
    expect(Object.keys(doc.components.schemas.ApiErrorDto.properties).sort()).toEqual(['code', 'fields', 'message', 'status']);
    expect(doc.paths['/api/v1/vms/{id}'].get.responses['404'].content['application/json'].schema.$ref).toBe('#/components/schemas/ApiErrorDto');
  });

  it('serves the interactive page at /api/docs', async () => {
    const r = await fetch(`${cp.api.replace('/api/v1', '')}/api/docs`);
    expect(r.status).toBe(200);
    expect(await r.text()).toContain('swagger-ui');
  });
});
