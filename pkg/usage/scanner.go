package usage

import (
	"bytes"
	"math"
	"strings"
)

// Bounds of the scanner's state, which is all the memory it has.
const (
	// maxDepth is the deepest nesting read; a deeper value is malformed.
	maxDepth = 128
	// maxKeyLen is the longest member name kept; longer names match no path.
	maxKeyLen = 32
	// maxPathDepth is the deepest container that can lie on a path.
	maxPathDepth = 4
	// maxSlots is the number of values one path table can read.
	maxSlots = 8
)

// Node flags: what a path's node means besides a number to read.
const (
	// flagChoices marks an array whose emptiness decides whether a chat
	// completion chunk is the usage chunk.
	flagChoices uint8 = 1 << iota
	// flagUsage marks the top-level usage member of a chat completion chunk,
	// whose null value [StripUsageChunk] removes.
	flagUsage
)

// node is one member name on a path of interest; node 0 is the top-level value.
type node struct {
	name   string
	parent int8
	slot   int8 // the slot a number here is read into, or -1
	flags  uint8
}

// pathSpec names one path: member names joined by dots, from the top level.
type pathSpec struct {
	path  string
	slot  int8
	flags uint8
}

// paths is a table of nodes built by [newPaths]; it is never changed after.
type paths []node

// newPaths builds the node table of specs, sharing common prefixes. Paths are
// fixed in this package's source, so a bad one is a programming error that the
// tests catch; it never depends on input.
func newPaths(specs ...pathSpec) paths {
	t := paths{{parent: -1, slot: -1}}
	for _, sp := range specs {
		parent := int8(0)
		names := strings.Split(sp.path, ".")
		for i, name := range names {
			idx := t.child(parent, name)
			if idx < 0 {
				t = append(t, node{name: name, parent: parent, slot: -1})
				idx = int8(len(t) - 1)
			}
			if i == len(names)-1 {
				t[idx].slot = sp.slot
				t[idx].flags |= sp.flags
			}
			parent = idx
		}
	}
	return t
}

// child returns the node named name under parent, or -1.
func (t paths) child(parent int8, name string) int8 {
	for i := range t {
		if t[i].parent == parent && t[i].name == name {
			return int8(i)
		}
	}
	return -1
}

// childBytes is child for a name held in a byte slice; the conversion in the
// comparison does not allocate.
func (t paths) childBytes(parent int8, name []byte) int8 {
	for i := range t {
		if t[i].parent == parent && t[i].name == string(name) {
			return int8(i)
		}
	}
	return -1
}

// Scanner states.
const (
	stValue     uint8 = iota // a value is expected
	stArrFirst               // after '[': a value or ']'
	stObjFirst               // after '{': a member name or '}'
	stObjNext                // after ',' in an object: a member name
	stKey                    // inside a member name
	stKeyEsc                 // after a backslash in a member name
	stColon                  // after a member name: ':'
	stString                 // inside a string value
	stStringEsc              // after a backslash in a string value
	stNumber                 // inside a number
	stLiteral                // inside true, false or null
	stAfter                  // after a value: ',' or the end of its container
	stDone                   // the top-level value is complete: only white space
	stFail                   // not JSON: the rest is ignored
)

// Notes a scanner raises in notify mode, for [StripUsageChunk]. Each is raised
// at an input position [scanner.noteAt].
const (
	noteNone    uint8 = iota
	noteComma1        // a ',' between top-level members; noteAt is the comma
	noteValue1        // a top-level member's value begins; noteAt is its first byte
	noteEnd1          // a top-level member's value ended; noteAt is just past it
	noteChoices       // a choices array's emptiness is known; noteAt is its first non-space byte after '['
)

// Values of scanner.choices.
const (
	choicesUnknown uint8 = iota
	choicesEmpty
	choicesNonEmpty
)

// scanner reads the numbers at a few paths of one JSON value fed to it in
// pieces of any size, without keeping the value: its state is a bit per
// nesting level, the path position of the first few levels and the member
// name being read. It is lenient where leniency cannot mislead it (string
// contents and escapes are not checked), strict about structure and literals.
type scanner struct {
	paths  paths
	notify bool // raise notes (only [StripUsageChunk] needs them)

	state  uint8
	depth  int
	arrays [maxDepth / 64]uint64 // bit d-1 set: the container at depth d is an array
	inArr  bool                  // the container at the current depth is an array
	nodes  [maxPathDepth + 1]int8
	key    [maxKeyLen]byte
	keyLen int
	keyOff bool // the member name is too long or escaped: it matches nothing
	cur    int8 // node of the value being read, or -1
	num    int64
	numBad bool
	lit    string
	litPos int

	vals [maxSlots]int64
	have uint16 // bit i set: vals[i] was read
	// bad is set when a value on a path was not a non-negative integer.
	bad     bool
	choices uint8
	armed   bool // the array just opened is a choices array
	done    bool
	failed  bool

	note   uint8
	noteAt int
	noted  bool // noteValue1 was raised for the value about to begin
	// usage1 reports that the top-level member being read is the usage member.
	usage1 bool
	// null1 reports that the top-level member value that just ended was null.
	null1 bool
}

// reset prepares s for a new value with the same paths and mode.
func (s *scanner) reset() {
	t, notify := s.paths, s.notify
	*s = scanner{paths: t, notify: notify, cur: 0}
}

func (s *scanner) inArray() bool { return s.inArr }

// pop leaves the container at the current depth.
func (s *scanner) pop() {
	s.depth--
	if d := s.depth - 1; d >= 0 {
		s.inArr = s.arrays[d/64]&(1<<(d%64)) != 0
	}
}

// parentNode is the node of the container at the current depth, or -1.
func (s *scanner) parentNode() int8 {
	if s.depth > maxPathDepth {
		return -1
	}
	return s.nodes[s.depth]
}

func (s *scanner) fail() {
	s.state = stFail
	s.failed = true
}

// feed reads p and returns how many bytes it consumed: all of them, unless a
// note was raised (s.note != noneNone), in which case the caller handles the
// note, clears it and feeds the rest.
func (s *scanner) feed(p []byte) int {
	i := 0
	for i < len(p) {
		b := p[i]
		switch s.state {
		case stValue:
			if isSpace(b) {
				i++
				continue
			}
			if s.notify && s.depth == 1 && !s.noted && !s.inArray() {
				s.noted = true
				return s.raise(noteValue1, i, i)
			}
			s.noted = false
			if !s.begin(b) {
				return len(p)
			}
			i++
		case stArrFirst:
			if isSpace(b) {
				i++
				continue
			}
			if s.armed {
				s.armed = false
				s.choices = choicesNonEmpty
				if b == ']' {
					s.choices = choicesEmpty
				}
				if s.notify {
					return s.raise(noteChoices, i, i)
				}
			}
			if b == ']' {
				s.pop()
				i++
				if n, stop := s.valueEnd(i); stop {
					return n
				}
				continue
			}
			s.cur = -1
			if !s.begin(b) {
				return len(p)
			}
			i++
		case stObjFirst, stObjNext:
			if isSpace(b) {
				i++
				continue
			}
			switch {
			case b == '"':
				s.keyLen, s.keyOff = 0, false
				s.state = stKey
				i++
			case b == '}' && s.state == stObjFirst:
				s.pop()
				i++
				if n, stop := s.valueEnd(i); stop {
					return n
				}
			default:
				s.fail()
				return len(p)
			}
		case stKey:
			rest := p[i:]
			j := stringEnd(rest)
			if !s.keyOff {
				if s.keyLen+j > maxKeyLen {
					s.keyOff = true
				} else {
					s.keyLen += copy(s.key[s.keyLen:], rest[:j])
				}
			}
			i += j
			if i == len(p) {
				return i
			}
			if p[i] == '\\' {
				s.keyOff = true // an escaped name is never one of ours
				s.state = stKeyEsc
			} else {
				s.state = stColon
			}
			i++
		case stKeyEsc:
			s.state = stKey
			i++
		case stColon:
			if isSpace(b) {
				i++
				continue
			}
			if b != ':' {
				s.fail()
				return len(p)
			}
			s.cur = -1
			if parent := s.parentNode(); parent >= 0 && !s.keyOff {
				s.cur = s.paths.childBytes(parent, s.key[:s.keyLen])
			}
			if s.depth == 1 {
				s.usage1 = s.cur > 0 && s.paths[s.cur].flags&flagUsage != 0
			}
			s.state = stValue
			i++
		case stString:
			i += stringEnd(p[i:])
			if i == len(p) {
				return i
			}
			if p[i] == '\\' {
				s.state = stStringEsc
				i++
				continue
			}
			i++
			if n, stop := s.valueEnd(i); stop {
				return n
			}
		case stStringEsc:
			s.state = stString
			i++
		case stNumber:
			switch {
			case '0' <= b && b <= '9':
				if s.num > (math.MaxInt64-9)/10 {
					s.numBad = true
				} else {
					s.num = s.num*10 + int64(b-'0')
				}
				i++
			case b == '.' || b == 'e' || b == 'E' || b == '+' || b == '-':
				s.numBad = true
				i++
			default:
				s.store()
				if n, stop := s.valueEnd(i); stop {
					return n
				}
			}
		case stLiteral:
			if 'a' <= b && b <= 'z' {
				if s.litPos >= len(s.lit) || s.lit[s.litPos] != b {
					s.fail()
					return len(p)
				}
				s.litPos++
				i++
				continue
			}
			if s.litPos != len(s.lit) {
				s.fail()
				return len(p)
			}
			if s.cur > 0 && s.paths[s.cur].slot >= 0 && s.lit != "null" {
				s.bad = true // usage that is neither a number nor null
			}
			s.null1 = s.lit == "null"
			if n, stop := s.valueEnd(i); stop {
				return n
			}
		case stAfter:
			if isSpace(b) {
				i++
				continue
			}
			switch b {
			case ',':
				i++
				if s.inArray() {
					s.state = stValue
					s.cur = -1
					continue
				}
				s.state = stObjNext
				if s.notify && s.depth == 1 {
					return s.raise(noteComma1, i-1, i)
				}
			case '}', ']':
				if s.inArray() != (b == ']') {
					s.fail()
					return len(p)
				}
				s.pop()
				i++
				if n, stop := s.valueEnd(i); stop {
					return n
				}
			default:
				s.fail()
				return len(p)
			}
		case stDone:
			if !isSpace(b) {
				s.fail()
				return len(p)
			}
			i++
		case stFail:
			return len(p)
		}
	}
	return i
}

// raise records a note at position at and returns n, the bytes consumed.
func (s *scanner) raise(note uint8, at, n int) int {
	s.note, s.noteAt = note, at
	return n
}

// begin starts the value whose first byte is b; false means it is not JSON.
func (s *scanner) begin(b byte) bool {
	s.null1 = false
	if (b == '{' || b == '[' || b == '"') && s.cur > 0 && s.paths[s.cur].slot >= 0 {
		s.bad = true // usage that is not a number
	}
	switch {
	case b == '{' || b == '[':
		if s.depth == maxDepth {
			s.fail()
			return false
		}
		d := s.depth
		if b == '[' {
			s.arrays[d/64] |= 1 << (d % 64)
		} else {
			s.arrays[d/64] &^= 1 << (d % 64)
		}
		s.depth++
		s.inArr = b == '['
		n := int8(-1)
		if b == '{' && s.cur >= 0 {
			n = s.cur
		}
		if s.depth <= maxPathDepth {
			s.nodes[s.depth] = n
		}
		if b == '[' {
			s.armed = s.cur > 0 && s.paths[s.cur].flags&flagChoices != 0
			s.state = stArrFirst
		} else {
			s.state = stObjFirst
		}
	case b == '"':
		s.state = stString
	case b == '-' || '0' <= b && b <= '9':
		s.state = stNumber
		s.num, s.numBad = 0, b == '-'
		if b != '-' {
			s.num = int64(b - '0')
		}
	case b == 't':
		s.state, s.lit, s.litPos = stLiteral, "true", 1
	case b == 'f':
		s.state, s.lit, s.litPos = stLiteral, "false", 1
	case b == 'n':
		s.state, s.lit, s.litPos = stLiteral, "null", 1
	default:
		s.fail()
		return false
	}
	return true
}

// store keeps the number just read if it lies on a path.
func (s *scanner) store() {
	if s.cur <= 0 {
		return
	}
	slot := s.paths[s.cur].slot
	if slot < 0 {
		return
	}
	if s.numBad {
		s.bad = true
		return
	}
	s.vals[slot] = s.num
	s.have |= 1 << slot
}

// valueEnd moves past a value that ended just before position i. It reports
// whether a note was raised, and the bytes consumed if so.
func (s *scanner) valueEnd(i int) (int, bool) {
	if s.depth == 0 {
		s.state, s.done = stDone, true
		return 0, false
	}
	s.state = stAfter
	if s.notify && s.depth == 1 && !s.inArray() {
		return s.raise(noteEnd1, i, i), true
	}
	return 0, false
}

// value reports the number read into slot, if any.
func (s *scanner) value(slot int) (int64, bool) {
	return s.vals[slot], s.have&(1<<slot) != 0
}

// stringEnd returns the index of the first '"' or '\\' in p, or len(p). Most
// strings in an answer are short (names, ids, a word of text), so it looks at
// the first bytes one by one before calling the vectorised search.
func stringEnd(p []byte) int {
	n := min(len(p), 24)
	for j, c := range p[:n] {
		if c == '"' || c == '\\' {
			return j
		}
	}
	if n == len(p) {
		return n
	}
	return n + stringEndLong(p[n:])
}

func stringEndLong(p []byte) int {
	j := bytes.IndexByte(p, '"')
	if j < 0 {
		j = len(p)
	}
	if k := bytes.IndexByte(p[:j], '\\'); k >= 0 {
		return k
	}
	return j
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }
