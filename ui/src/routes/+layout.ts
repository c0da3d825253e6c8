// The UI is a pure single-page app served by the hub: no server rendering, no prerendering.
export const ssr = false;
export const prerender = false;
export const trailingSlash = 'never';
