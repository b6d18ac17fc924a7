/** Outgoing HTTP behind a small interface, so tests and other transports can replace fetch. */

export interface HttpResponse {
  status: number
  header(name: string): string | undefined
  body: string
}

export interface HttpClient {
  post(url: string, headers: Record<string, string>, body: string, signal?: AbortSignal): Promise<HttpResponse>
}

/**
 * Node's fetch, with a per-request timeout. Redirects are never followed: a
 * followed 301/302/303 turns the POST into a body-less GET whose 200 would
 * count as delivered; the 3xx itself is returned (and retried).
 */
export function fetchHttpClient(timeoutMs: number): HttpClient {
  warmFetch()
  return {
    async post(url, headers, body, signal) {
      const timeout = AbortSignal.timeout(timeoutMs)
      const res = await fetch(url, {
        method: 'POST',
        headers,
        redirect: 'manual',
        body,
        signal: signal === undefined ? timeout : AbortSignal.any([timeout, signal]),
      })
      const text = await res.text()
      return { status: res.status, header: (n) => res.headers.get(n) ?? undefined, body: text }
    },
  }
}

/**
 * Node loads and compiles its fetch (undici) when it is first used: the
 * first delivery then held the HTTP thread for about 60 ms in one go, while
 * webhooks waited (docs/shim.md, "Benchmark"). Building a Request and a
 * Response loads it now, at start, before the port is bound; the first
 * delivery's synchronous part is then about 9 ms.
 */
export function warmFetch(): void {
  new Request('http://127.0.0.1/', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '', redirect: 'manual' })
  void new Response('').text()
}
