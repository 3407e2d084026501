// Package meter counts what each session spends and admits its requests: a
// request rate (GCRA), tokens per minute (a sliding window), the session's
// total tokens and its concurrent requests, under the limits its token
// carries.
//
// Counters live in this process (bounded memory) or, with a Redis URL, in
// Redis, where every replica shares them with one round trip per admission
// (shared by the admissions of concurrent requests, which go as one script
// call): a finished request's charge ([Meter.FinishAsync]) is queued and
// rides ahead of the replica's next admission, or is sent by a background
// flusher within the charge delay ([WithChargeDelay], 2 ms by default).
// When Redis is unreachable a [Meter] keeps deciding on its local counters,
// says so ([Meter.State]) and returns to Redis by itself once it answers.
//
// # Overshoot
//
// A request is admitted while its session's budget is not yet spent, and its
// real usage is charged when the answer ends ([Meter.Finish]), since nobody
// knows it before. A token limit can therefore be passed by what the requests
// in flight at the moment it runs out go on to spend: at most one request's
// usage (its input plus at most its max_output_tokens) per concurrent request,
// so concurrent_requests × that with a concurrency limit. Requests admitted
// after that are refused.
//
// With Redis and [Meter.FinishAsync], a finished request counts as in flight
// for the other replicas until its charge is sent (at most the charge
// delay): until then they do not see its tokens, and its concurrency slot
// stays taken there. The replica that admitted it sees the charge at its
// next admission. A replica that crashes loses the charges it had queued.
//
// Without Redis, each of N replicas counts on its own: together they let
// through at most N times each limit.
//
// The package has no HTTP framework dependency.
package meter
