// A single-page app served by HQ: everything renders in the browser.
export const ssr = false;
export const prerender = false;
