package usage

import "bytes"

// The event stream scanner: it reads the text/event-stream format (the HTML
// standard's "server-sent events") line by line as pieces arrive, feeds the
// value of each data field to the JSON scanner, and ends an event at its blank
// line. It keeps no line: only its position in the line and the first four
// bytes of a field name, enough to tell "data" from the rest.

// Line states.
const (
	sseLineStart uint8 = iota // at the start of a line
	sseName                   // inside a field name
	sseData                   // inside a data field's value
	sseSkip                   // inside a comment or another field's value
)

// doneMarker is the data of the chat completion stream's last event.
const doneMarker = "[DONE]"

// newline joins the data lines of one event, as the standard says.
var newline = []byte{'\n'}

// sseState is the scanner's position in the stream.
type sseState struct {
	state   uint8
	name    [4]byte
	nameLen int
	nameOff bool // the field name is longer than "data"
	afterCR bool // the last line ended with CR: an LF next is part of it
	inEvent bool // a line of the current event has been read
	data    bool // the current event has a data line
	// done counts the bytes of the data that match "[DONE]", or is -1.
	done int
	// usageChunk is set by finishEvent for a chat completion usage chunk.
	usageChunk bool
}

// scanEvents reads one piece of an event stream.
func (r *Reader) scanEvents(p []byte) {
	st := &r.sse
	i := 0
	for i < len(p) {
		switch st.state {
		case sseLineStart:
			b := p[i]
			if st.afterCR {
				st.afterCR = false
				if b == '\n' { // the LF of a CRLF
					if r.dropLF {
						r.route(i)
						r.skip(i + 1)
					}
					r.dropLF = false
					i++
					continue
				}
			}
			r.dropLF = false
			if b == '\n' || b == '\r' { // a blank line ends the event
				st.afterCR = b == '\r'
				i++
				if st.inEvent {
					r.endEvent(i)
				}
				continue
			}
			if !st.inEvent {
				st.inEvent = true
				if r.strip {
					r.route(i)
					r.evHold = true
				}
			}
			st.nameLen, st.nameOff = 0, false
			st.state = sseName
		case sseName:
			rest := p[i:]
			j := nameEnd(rest)
			if st.nameLen+j > len(st.name) {
				st.nameOff = true
			} else if !st.nameOff {
				st.nameLen += copy(st.name[st.nameLen:], rest[:j])
			}
			i += j
			if i == len(p) {
				return
			}
			isData := !st.nameOff && string(st.name[:st.nameLen]) == "data"
			if isData {
				r.beginData(i)
			}
			if p[i] == ':' {
				i++
				st.state = sseSkip
				if isData {
					st.state = sseData
				}
				continue
			}
			i = r.endLine(p, i) // a field with no colon has an empty value
		case sseData:
			j := lineEnd(p[i:])
			r.feedData(p, i, i+j)
			i += j
			if i < len(p) {
				i = r.endLine(p, i)
			}
		case sseSkip:
			i += lineEnd(p[i:])
			if i < len(p) {
				i = r.endLine(p, i)
			}
		}
	}
}

// endLine moves past the line terminator at p[i].
func (r *Reader) endLine(p []byte, i int) int {
	r.sse.afterCR = p[i] == '\r'
	r.sse.state = sseLineStart
	return i + 1
}

// beginData starts a data line at position at; a second data line of the
// event continues the JSON value after a newline.
func (r *Reader) beginData(at int) {
	st := &r.sse
	if !st.data {
		st.data = true
		return
	}
	st.done = -1
	for n := 0; n < len(newline); {
		n += r.js.feed(newline[n:])
		r.takeNote(at)
	}
}

// feedData reads p[from:to], part of a data field's value.
func (r *Reader) feedData(p []byte, from, to int) {
	st := &r.sse
	for k := from; k < to && st.done >= 0; k++ {
		switch b := p[k]; {
		case st.done == 0 && b == ' ':
		case st.done < len(doneMarker) && b == doneMarker[st.done]:
			st.done++
		default:
			st.done = -1
		}
	}
	for from < to {
		n := r.js.feed(p[from:to])
		r.takeNote(from + r.js.noteAt)
		from += n
	}
}

// takeNote handles a note the scanner raised, at position at of the input.
func (r *Reader) takeNote(at int) {
	if note := r.js.note; note != noteNone {
		r.js.note = noteNone
		r.onNote(note, at)
	}
}

// endEvent ends the event whose blank line ends just before position i.
func (r *Reader) endEvent(i int) {
	st := &r.sse
	if st.data {
		r.finishEvent()
	}
	if r.strip {
		r.route(i)
		if r.evHold && st.usageChunk {
			r.res.Stripped = true
			r.dropLF = st.afterCR
		} else {
			r.out = append(r.out, r.held...)
		}
		r.held, r.evHold, r.member = r.held[:0], false, -1
	}
	st.inEvent, st.data, st.done, st.usageChunk = false, false, 0, false
	r.js.reset()
}

// finishEvent counts the usage of an event with data.
func (r *Reader) finishEvent() {
	st := &r.sse
	r.res.Events++
	if st.done == len(doneMarker) {
		return
	}
	s := &r.js
	if s.failed || !s.done || s.bad {
		r.res.Malformed++
		return
	}
	r.collect()
	st.usageChunk = r.surface == SurfaceChatCompletions && s.choices == choicesEmpty && s.have != 0
}

// nameEnd returns the index of the first ':', CR or LF in p, or len(p).
func nameEnd(p []byte) int {
	for i, b := range p {
		if b == ':' || b == '\r' || b == '\n' {
			return i
		}
	}
	return len(p)
}

// lineEnd returns the index of the first CR or LF in p, or len(p).
func lineEnd(p []byte) int {
	j := bytes.IndexByte(p, '\n')
	if j < 0 {
		j = len(p)
	}
	if k := bytes.IndexByte(p[:j], '\r'); k >= 0 {
		return k
	}
	return j
}
