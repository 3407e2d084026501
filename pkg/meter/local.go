package meter

import (
	"sync"
	"sync/atomic"
)

// DefaultCapacity is the number of sessions a [Meter] keeps local counters
// for unless [WithCapacity] says otherwise. An entry takes about 200 bytes
// with its map slot, so the default bounds the local counters near 20 MB.
const DefaultCapacity = 100_000

// evictScan is how many of the least recently used sessions the local store
// looks through, at capacity, for one with no request in flight.
const evictScan = 64

// sweepPerCall is how many ended sessions one admission removes at most.
const sweepPerCall = 2

// localStore keeps counters in memory, for at most capacity sessions, in
// least-recently-used order.
//
// At capacity, a new session takes the place of the least recently used
// session with nothing in flight among the last evictScan, else of the least
// recently used one. Forgetting a session resets its counters, which errs on
// letting it in: a flood of sessions can cost other sessions their counts,
// but minting sessions takes the API key, which can mint fresh budgets anyway.
// An evicted session's request still in flight releases nothing when it ends.
type localStore struct {
	mu       sync.Mutex
	capacity int
	entries  map[string]*entry
	head     *entry // most recently used
	tail     *entry // least recently used
	gen      uint64

	evictions atomic.Uint64
	size      atomic.Int64
}

// entry is one session's local counters, in the LRU list.
type entry struct {
	session    string
	expires    int64 // µs since the epoch
	gen        uint64
	c          counters
	prev, next *entry
}

func newLocalStore(capacity int) *localStore {
	return &localStore{capacity: capacity, entries: make(map[string]*entry, min(capacity, 1024))}
}

// admit applies the rules for session k at nowUS and returns its counters, the
// refusal mask and the entry's generation.
func (s *localStore) admit(k string, expiresUS int64, l Limits, nowUS int64) (counters, uint8, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(nowUS)
	e := s.entries[k]
	switch {
	case e == nil:
		e = s.insert(k, expiresUS)
	case e.expires < nowUS && e.c.inflight == 0:
		// The session ended; a request still naming it starts afresh.
		s.gen++
		e.c, e.gen, e.expires = counters{}, s.gen, expiresUS
		s.toFront(e)
	default:
		e.expires = max(e.expires, expiresUS)
		s.toFront(e)
	}
	mask := e.c.admit(l, nowUS)
	return e.c, mask, e.gen
}

// finish charges tokens to session k and, when leased and the entry is the
// one that admitted the request (gen), releases its slot.
func (s *localStore) finish(k string, gen uint64, leased bool, tokens, nowUS int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[k]
	if e == nil {
		return
	}
	if tokens > 0 {
		e.c.charge(tokens, nowUS/1000)
	}
	if leased && e.gen == gen && e.c.inflight > 0 {
		e.c.inflight--
	}
}

// charge charges tokens to session k, adding it if it has no local counters
// (a request admitted by Redis that finished after Redis went away).
func (s *localStore) charge(k string, expiresUS, tokens, nowUS int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[k]
	if e == nil {
		e = s.insert(k, expiresUS)
	}
	e.c.charge(tokens, nowUS/1000)
}

// insert adds a session at the front, making room first at capacity.
func (s *localStore) insert(k string, expiresUS int64) *entry {
	if len(s.entries) >= s.capacity {
		s.evict()
	}
	s.gen++
	e := &entry{session: k, expires: expiresUS, gen: s.gen}
	s.entries[k] = e
	s.pushFront(e)
	s.size.Store(int64(len(s.entries)))
	return e
}

// evict forgets one session to make room.
func (s *localStore) evict() {
	victim := s.tail
	for e, n := s.tail, 0; e != nil && n < evictScan; e, n = e.prev, n+1 {
		if e.c.inflight == 0 {
			victim = e
			break
		}
	}
	if victim != nil {
		s.remove(victim)
		s.evictions.Add(1)
	}
}

// sweep removes a few ended sessions with nothing in flight from the tail,
// where sessions no longer used gather.
func (s *localStore) sweep(nowUS int64) {
	for n := 0; n < sweepPerCall && s.tail != nil && s.tail.expires < nowUS && s.tail.c.inflight == 0; n++ {
		s.remove(s.tail)
	}
}

func (s *localStore) remove(e *entry) {
	s.unlink(e)
	delete(s.entries, e.session)
	s.size.Store(int64(len(s.entries)))
}

func (s *localStore) pushFront(e *entry) {
	e.prev, e.next = nil, s.head
	if s.head != nil {
		s.head.prev = e
	}
	s.head = e
	if s.tail == nil {
		s.tail = e
	}
}

func (s *localStore) unlink(e *entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		s.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		s.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (s *localStore) toFront(e *entry) {
	if s.head == e {
		return
	}
	s.unlink(e)
	s.pushFront(e)
}
