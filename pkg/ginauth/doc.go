// Package ginauth is gin middleware that admits only requests carrying a valid
// jwtgate session token, by default in an "Authorization: Bearer <token>" header
// (options add the X-API-Key header and WebSocket subprotocol entries), and
// answers every other request with an RFC 6750 challenge.
//
// With [WithDPoP], a token bound to a DPoP key (RFC 9449) is accepted only as
// "Authorization: DPoP <token>" with a proof of that key for the request (on a
// WebSocket upgrade, as a "jwtgate.dpop." subprotocol entry), and refused with an
// RFC 9449 challenge otherwise; see [SchemeDPoP].
//
// Handlers behind [New] read the verified claims with [Claims] and the API key with
// [APIKey]. Both live on the request context (see token.NewContext), so a plain
// http.Handler mounted behind the middleware, such as a reverse proxy, sees them too
// through token.FromContext. The middleware stores them with token.NewContext,
// a new request context and so a copy of the request; when an outer middleware
// has derived the request context from a token.Slot, they go into the slot and
// the request is not copied again.
package ginauth
