/**
 * A loopback HTTP server that serves the testdata collateral with the real
 * paths and headers of Intel PCS (v4), a PCCS and Azure THIM/acccache:
 * issuer chains URL-encoded in headers, CRLs as DER or hex as each serves them.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Collateral } from '../../src/dcap/collateral.js';

export interface CollateralServer {
  url: string;
  requests: string[];
  close(): Promise<void>;
}

/** `sets` by TEE + FMSPC (uppercase), e.g. `SGX/00A067110000`. */
export async function startCollateralServer(sets: Record<string, Collateral>): Promise<CollateralServer> {
  const requests: string[] = [];
  const byTee = (tee: string) => Object.entries(sets).filter(([k]) => k.startsWith(tee.toUpperCase() + '/'));
  const anySet = Object.values(sets)[0];
  const enc = encodeURIComponent;
  const server: Server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const u = new URL(req.url ?? '/', 'http://x');
    const send = (status: number, body: string | Buffer, headers: Record<string, string> = {}) => {
      res.writeHead(status, headers);
      res.end(body);
    };
    const [, flavour, tee, , , ...rest] = u.pathname.split('/'); // /<flavour>/<sgx|tdx>/certification/v4/<endpoint…>
    const endpoint = rest.join('/');
    if (u.pathname === '/pcs/IntelSGXRootCA.der') return send(200, Buffer.from(anySet.root_ca_crl, 'hex'));
    if (!flavour || !tee || !endpoint) return send(404, 'not found');
    if (endpoint === 'pckcrl') {
      let ca = u.searchParams.get('ca');
      const uri = u.searchParams.get('uri');
      if (flavour === 'thim' && uri) {
        if (uri.endsWith('intelsgxrootca.crl')) return send(200, Buffer.from(anySet.root_ca_crl, 'hex'));
        ca = uri.includes('processor') ? 'processor' : uri.includes('platform') ? 'platform' : null;
        if (u.searchParams.get('api-version') !== '2020-02-12-preview' || !u.searchParams.get('clientid')) return send(400, 'bad query');
      }
      const issuer = ca === 'platform' ? 'Platform' : 'Processor';
      const match = Object.values(sets).find((c) => Buffer.from(c.pck_crl, 'hex').includes(Buffer.from(`Intel SGX PCK ${issuer} CA`)));
      if (!ca || !match) return send(404, 'no such CRL');
      const der = Buffer.from(match.pck_crl, 'hex');
      const body = flavour === 'pccs' && u.searchParams.get('encoding') !== 'der' ? match.pck_crl : der;
      return send(200, body, { 'SGX-PCK-CRL-Issuer-Chain': enc(match.pck_crl_issuer_chain) });
    }
    if (endpoint === 'rootcacrl' && (flavour === 'pccs' || flavour === 'thim')) return send(200, anySet.root_ca_crl);
    const sets4tee = byTee(tee);
    if (endpoint === 'tcb') {
      const fmspc = (u.searchParams.get('fmspc') ?? '').toUpperCase();
      const hit = sets4tee.find(([k]) => k.endsWith('/' + fmspc));
      if (!hit) return send(404, 'unknown fmspc');
      const c = hit[1];
      const header = flavour === 'pccs' ? 'SGX-TCB-Info-Issuer-Chain' : 'TCB-Info-Issuer-Chain';
      return send(200, `{"tcbInfo":${c.tcb_info},"signature":"${c.tcb_info_signature}"}`, { [header]: enc(c.tcb_info_issuer_chain), 'Content-Type': 'application/json' });
    }
    if (endpoint === 'qe/identity') {
      const c = sets4tee[0]?.[1];
      if (!c) return send(404, 'no identity');
      return send(200, `{"enclaveIdentity":${c.qe_identity},"signature":"${c.qe_identity_signature}"}`, { 'SGX-Enclave-Identity-Issuer-Chain': enc(c.qe_identity_issuer_chain) });
    }
    return send(404, 'not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve()))),
  };
}
