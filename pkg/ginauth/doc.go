// Package ginauth is gin middleware that admits only requests carrying a valid
// jwtgate session token, by default in an "Authorization: Bearer <token>" header
// (options add the X-API-Key header and WebSocket subprotocol entries), and
// answers every other request with an RFC 6750 challenge.
//
// Handlers behind [New] read the verified claims with [Claims] and the API key with
// [APIKey]. Both live on the request context (see token.NewContext), so a plain
// http.Handler mounted behind the middleware, such as a reverse proxy, sees them too
// through token.FromContext.
package ginauth
