package meter

import (
	"context"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Every call of a replica's concurrent requests to Redis (admissions and
// charges) goes through one batcher: while one script call is in flight, the
// next requests' calls gather, and they go as one EVALSHA of batchScript,
// which runs them in order. A script call's fixed cost in Redis (looking up
// the script, setting up its arguments, the Lua call) is then paid once per
// batch rather than once per request, and so are the system calls on both
// sides. A lone request's call is sent at once: it waits for nothing but
// the batch in flight, if any.
//
// One batch is in flight at a time, so calls run in the order they were
// submitted: a request's queued charges before its admission.

// maxBatchCalls bounds the calls of one batch, so that Redis, which runs a
// script to its end before anything else, is never held long.
const maxBatchCalls = 128

// batchScript runs a batch of calls. ARGV[1] is the number of calls; each
// call is then its kind (0: admission, 1: charge), the number of its
// arguments, and its arguments; KEYS holds each call's keys in turn (five for
// an admission, three for a charge). It returns one reply per call: an
// admission's as admitScript's, 1 for a charge.
const batchScript = `
local function admit(KEYS, ARGV)
` + admitScript + `
end
local function charge(KEYS, ARGV)
` + chargeScript + `
end
local out = {}
local ki, ai = 0, 2
for c = 1, tonumber(ARGV[1]) do
  local kind, na = ARGV[ai], tonumber(ARGV[ai + 1])
  local A = {}
  for i = 1, na do A[i] = ARGV[ai + 1 + i] end
  ai = ai + 2 + na
  local nk = 3
  if kind == '0' then nk = 5 end
  local K = {}
  for i = 1, nk do K[i] = KEYS[ki + i] end
  ki = ki + nk
  if kind == '0' then out[c] = admit(K, A) else out[c] = charge(K, A) end
end
return out
`

// job is one submitter's calls and, once run, their replies.
type job struct {
	calls   []scriptCall
	replies []any
	err     error
	done    chan struct{}
}

// batcher sends submitted calls in batches, one batch in flight at a time.
type batcher struct {
	client *redis.Client
	script *redis.Script
	jobs   sync.Pool // of *job, each with its done channel

	mu     sync.Mutex
	queue  []*job
	closed bool
	wake   chan struct{}
	stop   chan struct{}
	wg     sync.WaitGroup
}

func newBatcher(client *redis.Client) *batcher {
	b := &batcher{client: client, script: redis.NewScript(batchScript), wake: make(chan struct{}, 1), stop: make(chan struct{})}
	b.jobs.New = func() any { return &job{done: make(chan struct{}, 1)} }
	b.wg.Add(1)
	go b.run()
	return b
}

// do runs calls, in order, and returns their replies.
func (b *batcher) do(calls []scriptCall) ([]any, error) {
	j := b.jobs.Get().(*job)
	j.calls = calls
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		b.jobs.Put(j)
		return nil, redis.ErrClosed
	}
	b.queue = append(b.queue, j)
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
	<-j.done
	replies, err := j.replies, j.err
	*j = job{done: j.done}
	b.jobs.Put(j)
	return replies, err
}

// run sends what is queued until the batcher is closed, then fails what is
// left.
func (b *batcher) run() {
	defer b.wg.Done()
	var jobs []*job
	for {
		select {
		case <-b.stop:
			b.mu.Lock()
			left := b.queue
			b.queue = nil
			b.mu.Unlock()
			for _, j := range left {
				j.err = redis.ErrClosed
				j.done <- struct{}{}
			}
			return
		case <-b.wake:
		}
		for {
			jobs = b.take(jobs[:0])
			if len(jobs) == 0 {
				break
			}
			b.exec(jobs)
			clear(jobs)
		}
	}
}

// take moves queued jobs into jobs, up to maxBatchCalls calls (at least one
// job).
func (b *batcher) take(jobs []*job) []*job {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, i := 0, 0
	for ; i < len(b.queue); i++ {
		if i > 0 && n+len(b.queue[i].calls) > maxBatchCalls {
			break
		}
		n += len(b.queue[i].calls)
		jobs = append(jobs, b.queue[i])
	}
	rest := copy(b.queue, b.queue[i:])
	clear(b.queue[rest:])
	b.queue = b.queue[:rest]
	return jobs
}

// exec runs jobs' calls as one script call and hands each job its replies.
// Redis forgets its scripts when it restarts: a batch refused with NOSCRIPT
// (and so not run) is sent again once the script is loaded.
func (b *batcher) exec(jobs []*job) {
	var nk, na, nc int
	for _, j := range jobs {
		for _, c := range j.calls {
			nk += len(c.keys)
			na += 2 + len(c.args)
			nc++
		}
	}
	keys := make([]string, 0, nk)
	args := make([]any, 0, na+1)
	args = append(args, nc)
	for _, j := range jobs {
		for _, c := range j.calls {
			keys = append(keys, c.keys...)
			args = append(args, c.kind, len(c.args))
			args = append(args, c.args...)
		}
	}
	ctx := context.Background() // bounded by the client's timeouts
	res, err := b.script.EvalSha(ctx, b.client, keys, args...).Slice()
	if redis.HasErrorPrefix(err, "NOSCRIPT") {
		if err = b.script.Load(ctx, b.client).Err(); err == nil {
			res, err = b.script.EvalSha(ctx, b.client, keys, args...).Slice()
		} else {
			err = fmt.Errorf("loading the script: %w", err)
		}
	}
	if err == nil && len(res) != nc {
		err = errBadReply
	}
	i := 0
	for _, j := range jobs {
		if err != nil {
			j.err = err
		} else {
			j.replies = res[i : i+len(j.calls) : i+len(j.calls)]
			i += len(j.calls)
		}
		j.done <- struct{}{}
	}
}

// close fails the calls still queued and later ones with redis.ErrClosed,
// and waits for the batch in flight.
func (b *batcher) close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	b.mu.Unlock()
	close(b.stop)
	b.wg.Wait()
}
