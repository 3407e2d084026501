package usage

import (
	"io"
	"sync"
)

// Sizes of the buffers a stripping [Reader] allocates once, at its first Read.
const (
	// holdLimit bounds the bytes held back while deciding whether an event is
	// the usage chunk. A real usage chunk is under 1 KiB; an event that grows
	// past the limit is passed on unstripped (its usage is still counted).
	holdLimit = 4 << 10
	// readSize is how much a stripping Reader reads from the upstream at once.
	readSize = 4 << 10
)

// ReaderOption configures a [Reader].
type ReaderOption func(*Reader)

// StripUsageChunk removes from a streamed chat completion the usage chunk (the
// event whose data has "choices":[] and a usage object), and the
// "usage":null member that every other chunk then carries, after counting the
// usage. Use it when jwtgate added stream_options.include_usage itself
// ([IncludeStreamUsage] reported so): the client then receives byte for byte the
// stream it would have received without jwtgate. It does nothing on other
// surfaces or formats.
//
// To decide, the Reader holds back the start of each event until the event's
// top-level choices member shows it is not the usage chunk (within the first
// couple of hundred bytes of a chunk) or the event ends; no complete event is
// ever held, and never more than 4 KiB. Only a "usage":null member preceded by a
// comma is removed (where OpenAI puts it: last).
func StripUsageChunk() ReaderOption {
	return func(r *Reader) { r.strip = true }
}

// slabSize is what a stripping Reader's buffers take together: the input, the
// output (input plus what was held) and the held bytes.
const slabSize = readSize + (readSize + holdLimit) + holdLimit

// BufferPool lends stripping Readers their buffers (16 KiB each), so that a
// proxy stripping many streams does not allocate them for every answer. Build
// one with [NewBufferPool], share it between Readers ([WithBufferPool]); a
// Reader gives its buffers back when it is closed. It is safe for concurrent
// use.
type BufferPool struct{ p sync.Pool }

// NewBufferPool returns an empty BufferPool.
func NewBufferPool() *BufferPool {
	return &BufferPool{p: sync.Pool{New: func() any { return new([slabSize]byte) }}}
}

// WithBufferPool makes a stripping Reader take its buffers from bp and give
// them back on Close, after which it must not be read. Without it, a
// stripping Reader allocates its buffers at its first Read.
func WithBufferPool(bp *BufferPool) ReaderOption {
	return func(r *Reader) { r.pool = bp }
}

// Reader reads usage from an answer's body as it passes. It is an
// io.ReadCloser over the body: wrap the upstream response's body with it (in
// httputil.ReverseProxy's ModifyResponse, say) and read [Reader.Result] once the
// body has been read or closed.
//
// Without [StripUsageChunk], Read reads straight into the caller's buffer and
// returns what the body returned, unchanged. A Reader is not safe for
// concurrent use; Result must not be called while a Read runs.
type Reader struct {
	src     io.ReadCloser
	surface Surface
	format  Format
	strip   bool
	ended   bool

	js  scanner
	sse sseState
	res Result
	// anth is the Messages stream's usage so far: input, output, cache
	// creation and cache read tokens, each from the latest event reporting it.
	anth [4]int64

	// The rest is used only with strip on: the input in, the output to hand
	// to the caller out (from outPos), and the bytes held back while an event
	// may still turn out to be the usage chunk.
	in, out []byte
	outPos  int
	srcErr  error
	held    []byte
	cur     []byte // the input being scanned
	mark    int    // cur[mark:] has not been routed to out or held yet
	evHold  bool   // the current event is held from its start
	member  int    // offset in held where a held top-level member starts, or -1
	dropLF  bool   // a dropped event ended with CR: drop the LF that follows
	pool    *BufferPool
	slab    *[slabSize]byte // the buffers, when lent by pool
}

// NewReader returns a Reader over body that reads the usage of an answer of
// surface s in format f ([SurfaceOf], [FormatOf]). For [SurfaceUnknown] or
// [FormatOther] it passes the body through unread.
func NewReader(body io.ReadCloser, s Surface, f Format, opts ...ReaderOption) *Reader {
	r := &Reader{src: body, surface: s, format: f, member: -1}
	for _, o := range opts {
		o(r)
	}
	if s == SurfaceUnknown || f == FormatOther {
		r.format = FormatOther
	}
	r.strip = r.strip && s == SurfaceChatCompletions && r.format == FormatEventStream
	r.js.paths = pathsFor(s, r.format)
	r.js.notify = r.strip
	r.js.reset()
	return r
}

// pathsFor returns the paths read for a surface and format.
func pathsFor(s Surface, f Format) paths {
	stream := f == FormatEventStream
	switch s {
	case SurfaceChatCompletions:
		if stream {
			return chatChunkPaths
		}
		return chatAnswerPaths
	case SurfaceResponses:
		if stream {
			return responsesEventPaths
		}
		return responsesAnswerPaths
	case SurfaceMessages:
		if stream {
			return messagesEventPaths
		}
		return messagesAnswerPaths
	}
	return nil
}

// Read reads from the body. Without stripping, it returns exactly what the
// body's Read returned.
func (r *Reader) Read(p []byte) (int, error) {
	if !r.strip {
		n, err := r.src.Read(p)
		if n > 0 && r.format != FormatOther {
			r.scan(p[:n])
		}
		if err != nil {
			r.end()
		}
		return n, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if r.in == nil {
		if r.srcErr != nil {
			return 0, r.srcErr // closed
		}
		var slab *[slabSize]byte
		if r.pool != nil {
			slab = r.pool.p.Get().(*[slabSize]byte)
			r.slab = slab
		} else {
			slab = new([slabSize]byte)
		}
		// Full slice expressions: an append past a buffer's capacity (which
		// the limits above rule out) would move it, never overwrite the next.
		r.in = slab[:readSize:readSize]
		r.out = slab[readSize : readSize : 2*readSize+holdLimit]
		r.held = slab[2*readSize+holdLimit : 2*readSize+holdLimit : slabSize]
	}
	for {
		if r.outPos < len(r.out) {
			n := copy(p, r.out[r.outPos:])
			r.outPos += n
			return n, nil
		}
		if r.srcErr != nil {
			return 0, r.srcErr
		}
		r.out, r.outPos = r.out[:0], 0
		n, err := r.src.Read(r.in)
		if n > 0 {
			r.cur, r.mark = r.in[:n], 0
			r.scan(r.cur)
			r.route(n)
			r.cur = nil
		}
		if err != nil {
			r.end()
			r.srcErr = err
		}
	}
}

// Close closes the body, and gives buffers lent by a [BufferPool] back.
// Bytes not yet read are dropped.
func (r *Reader) Close() error {
	if r.slab != nil {
		r.pool.p.Put(r.slab)
		r.slab = nil
		r.in, r.out, r.held, r.outPos = nil, nil, nil, 0
		r.srcErr = io.ErrClosedPipe
	}
	return r.src.Close()
}

// Result returns what was found so far: all of it once the body has been read
// to its end.
func (r *Reader) Result() Result { return r.res }

// scan reads one piece of the body.
func (r *Reader) scan(p []byte) {
	switch r.format {
	case FormatJSON:
		for len(p) > 0 {
			p = p[r.js.feed(p):]
		}
	case FormatEventStream:
		r.scanEvents(p)
	}
}

// end finishes the answer once the body returned an error or io.EOF.
func (r *Reader) end() {
	if r.ended {
		return
	}
	r.ended = true
	switch r.format {
	case FormatJSON:
		if !r.js.done || r.js.failed || r.js.bad {
			r.res.Malformed++
		}
		r.collect()
	case FormatEventStream:
		if r.sse.inEvent && r.sse.data && r.js.done {
			// The last event lacks its blank line: a client drops it, but its
			// usage is real.
			r.finishEvent()
		}
		if r.strip {
			r.out = append(r.out, r.held...)
			r.held, r.evHold, r.member = r.held[:0], false, -1
		}
	}
}

// collect takes the usage from the value or event just scanned.
func (r *Reader) collect() {
	switch r.surface {
	case SurfaceChatCompletions:
		collectChat(&r.js, &r.res)
	case SurfaceResponses:
		collectResponses(&r.js, &r.res)
	case SurfaceMessages:
		collectMessages(&r.js, &r.res, &r.anth)
	}
}

// The routing of a stripping Reader: every byte of r.cur goes, in order, to
// out (passed on) or to held (undecided), and held bytes end up in out or
// nowhere (stripped).

// route sends r.cur[r.mark:i] on or into held.
func (r *Reader) route(i int) {
	seg := r.cur[r.mark:i]
	r.mark = i
	if len(seg) == 0 {
		return
	}
	if !r.evHold && r.member < 0 {
		r.out = append(r.out, seg...)
		return
	}
	if len(r.held)+len(seg) > holdLimit {
		// Too long to be what is stripped: pass it all on.
		r.out = append(r.out, r.held...)
		r.out = append(r.out, seg...)
		r.held, r.evHold, r.member = r.held[:0], false, -1
		return
	}
	r.held = append(r.held, seg...)
}

// skip drops r.cur[r.mark:i].
func (r *Reader) skip(i int) { r.mark = i }

// releaseEvent passes on the held start of the event, keeping a held member.
func (r *Reader) releaseEvent() {
	if !r.evHold {
		return
	}
	r.evHold = false
	if r.member < 0 {
		r.out = append(r.out, r.held...)
		r.held = r.held[:0]
		return
	}
	r.out = append(r.out, r.held[:r.member]...)
	n := copy(r.held, r.held[r.member:])
	r.held, r.member = r.held[:n], 0
}

// releaseMember passes on a held member (unless the whole event is held).
func (r *Reader) releaseMember() {
	if r.member < 0 {
		return
	}
	r.member = -1
	if !r.evHold {
		r.out = append(r.out, r.held...)
		r.held = r.held[:0]
	}
}

// dropMember removes the held member.
func (r *Reader) dropMember() {
	if r.member < 0 {
		return
	}
	r.held, r.member = r.held[:r.member], -1
}

// onNote acts on a note the scanner raised at position at of r.cur.
func (r *Reader) onNote(note uint8, at int) {
	switch note {
	case noteComma1:
		r.route(at)
		r.member = len(r.held) // the comma and what follows are held
	case noteValue1:
		r.route(at)
		if !(r.js.usage1 && r.cur[at] == 'n') {
			r.releaseMember()
		}
	case noteEnd1:
		r.route(at)
		if r.js.usage1 && r.js.null1 {
			r.dropMember()
		} else {
			r.releaseMember()
		}
	case noteChoices:
		if r.js.choices == choicesNonEmpty {
			r.route(at)
			r.releaseEvent()
		}
	}
}
