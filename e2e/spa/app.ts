// A small single-page app used by e2e/esm-spa.spec.ts: two routes with
// history.pushState, a sign-in button (identify) and a buy button (track).
// The same app runs on the ESM build (main.ts) and on the script-tag build
// (iife-main.ts), so both must send the same payloads.

/** The part of the analytics API the app uses. */
export interface AppAnalytics {
  page(name?: string, properties?: Record<string, unknown>): Promise<void>
  identify(userId: string, traits?: Record<string, unknown>): Promise<void>
  track(event: string, properties?: Record<string, unknown>): Promise<void>
}

export const SETTINGS = {
  token: 'spa-token',
  eventIncrements: ['Order Completed'],
  propIncrements: ['quantity'],
  mixpanelConfig: { batch_requests: false },
}

const ROUTES: Record<string, { title: string; html: string }> = {
  '/app/': {
    title: 'Home',
    html: '<h1>Home</h1><button id="sign-in">Sign in</button> <a href="/app/pricing" data-link>Pricing</a>',
  },
  '/app/pricing': {
    title: 'Pricing',
    html: '<h1>Pricing</h1><button id="buy">Buy</button> <a href="/app/" data-link>Home</a>',
  },
}

export function startApp(analytics: AppAnalytics, root: HTMLElement): void {
  function render(): void {
    const route = ROUTES[location.pathname] ?? ROUTES['/app/']!
    document.title = route.title
    root.innerHTML = route.html
    void analytics.page(route.title, { app: 'spa' })
  }

  document.addEventListener('click', (event) => {
    const target = event.target as HTMLElement
    const link = target.closest('a[data-link]')
    if (link) {
      event.preventDefault()
      history.pushState({}, '', link.getAttribute('href'))
      render()
    } else if (target.id === 'sign-in') {
      void analytics.identify('spa-user', {
        email: 'spa@example.com',
        firstName: 'Spa',
        lastName: 'User',
        plan: 'pro',
        signedUpAt: new Date(Date.UTC(2023, 0, 1)),
        tags: ['beta'],
      })
    } else if (target.id === 'buy') {
      void analytics.track('Order Completed', {
        total: '$10.50',
        quantity: 2,
        products: [{ sku: 'a-1', price: 5.25 }],
        placedAt: new Date(Date.UTC(2023, 5, 1, 12)),
      })
    }
  })
  window.addEventListener('popstate', render)
  render()
}
