package meter

import (
	"sync"
	"time"
)

// Charges of requests admitted through Redis are not sent when each request
// finishes: [Meter.Finish] queues them on the replica, and they reach Redis
// in the pipeline of this replica's next admission (ahead of it, so that it
// sees them), or else from a background flusher once the oldest has waited
// the charge delay ([WithChargeDelay]), or as soon as chargeBatch are
// queued. A request's path therefore costs one round trip, its admission,
// and a finished request none.
//
// The queue is bounded ([WithMaxPendingCharges]): a Finish that fills it
// sends the queue itself, so a Redis slower than the traffic slows finishing
// requests rather than growing memory. If Redis fails, the charges of the
// failed batch go to the local counters, as a Finish during an outage does;
// their leases lapse by themselves. Close sends what is queued.

// Defaults of the charge queue.
const (
	// DefaultChargeDelay is how long a finished request's charge may wait on
	// its replica before the flusher sends it, when no admission on that
	// replica carries it first.
	DefaultChargeDelay = 2 * time.Millisecond
	// DefaultMaxPendingCharges bounds the charges queued on a replica.
	DefaultMaxPendingCharges = 4096
)

// chargeBatch is how many queued charges make the flusher send at once,
// without waiting for the delay.
const chargeBatch = 64

// pendingCharge is what a finished request still owes Redis.
type pendingCharge struct {
	session   string
	expiresMS int64  // the session's end, ms
	tokens    int64  // to charge (0: only a lease to release)
	nowUS     int64  // when the request finished: the minute it is charged to
	lease     string // the slot to release, if any
}

// chargeQueue holds the charges not yet sent to Redis.
type chargeQueue struct {
	delay time.Duration
	max   int
	send  func([]pendingCharge) // sends a batch; charges it locally if Redis fails

	mu      sync.Mutex
	pending []pendingCharge
	since   time.Time // when the oldest pending charge was queued
	spare   []pendingCharge
	busy    bool // a batch taken by the flusher or a full queue is being sent
	closed  bool

	// flight is held while a batch is sent by the flusher or by a Finish
	// that filled the queue, so that an admission can wait for it: an
	// admission must see every charge finished before it on this replica.
	flight sync.Mutex
	wake   chan struct{}
}

func newChargeQueue(delay time.Duration, maxPending int, send func([]pendingCharge)) *chargeQueue {
	return &chargeQueue{delay: delay, max: maxPending, send: send, wake: make(chan struct{}, 1)}
}

// add queues c, reporting false (and queuing nothing) once the queue is
// closed.
func (q *chargeQueue) add(c pendingCharge) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	if len(q.pending) == 0 {
		q.since = time.Now()
		if q.pending == nil {
			q.pending, q.spare = q.spare, nil
		}
	}
	q.pending = append(q.pending, c)
	n := len(q.pending)
	q.mu.Unlock()
	if n == 1 || n == chargeBatch {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
	if n >= q.max {
		q.flush()
	}
	return true
}

// take removes the pending charges for an admission to carry, first waiting
// for a batch the flusher is sending.
func (q *chargeQueue) take() []pendingCharge {
	q.mu.Lock()
	b := q.pending
	q.pending = nil
	busy := q.busy
	q.mu.Unlock()
	if busy {
		q.flight.Lock()
		q.flight.Unlock() //nolint:staticcheck // waiting for the batch in flight
	}
	return b
}

// recycle gives back a batch's slice once it is sent.
func (q *chargeQueue) recycle(b []pendingCharge) {
	if cap(b) == 0 || cap(b) > chargeBatch {
		return
	}
	clear(b)
	q.mu.Lock()
	if q.spare == nil {
		q.spare = b[:0]
	}
	q.mu.Unlock()
}

// flush sends what is pending, as the flusher does.
func (q *chargeQueue) flush() {
	q.flight.Lock()
	defer q.flight.Unlock()
	q.mu.Lock()
	b := q.pending
	q.pending = nil
	q.busy = len(b) > 0
	q.mu.Unlock()
	if len(b) == 0 {
		return
	}
	q.send(b)
	q.mu.Lock()
	q.busy = false
	q.mu.Unlock()
	q.recycle(b)
}

// run is the flusher: it sends the pending charges once the oldest has
// waited the delay, or chargeBatch are pending, until stop is closed.
func (q *chargeQueue) run(stop <-chan struct{}) {
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-q.wake:
		}
		for {
			q.mu.Lock()
			n, since := len(q.pending), q.since
			q.mu.Unlock()
			if n == 0 {
				break
			}
			if wait := time.Until(since.Add(q.delay)); n < chargeBatch && wait > 0 {
				t.Reset(wait)
				select {
				case <-stop:
					return
				case <-t.C:
				case <-q.wake:
					t.Stop()
				}
				continue
			}
			q.flush()
		}
	}
}

// close refuses further charges and returns those pending, once any batch
// in flight is sent.
func (q *chargeQueue) close() []pendingCharge {
	q.flight.Lock()
	defer q.flight.Unlock()
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	b := q.pending
	q.pending = nil
	return b
}
