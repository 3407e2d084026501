package main

import (
	"math"
	"math/bits"
	"time"
)

// The histogram is log-linear: values below 2^(subBits+1) ns have a bucket each,
// and every larger power of two is split into 2^subBits equal buckets, so a bucket
// is never wider than 1/64 of its lower bound (a relative error under 1.6%).
const (
	subBits    = 6
	subCount   = 1 << subBits
	maxBits    = 41
	maxValueNs = 1<<maxBits - 1 // about 36 minutes; longer latencies land in the last bucket
	numBuckets = (maxBits - subBits + 1) * subCount
)

// histogram counts latencies in a fixed number of buckets, so a run of any
// length uses the same memory. The zero value is empty and ready to use.
type histogram struct {
	counts [numBuckets]uint64
	n      uint64
	max    time.Duration
}

// bucketOf returns the bucket index for d.
func bucketOf(d time.Duration) int {
	v := uint64(max(d, 0))
	v = min(v, maxValueNs)
	l := bits.Len64(v)
	if l <= subBits+1 {
		return int(v)
	}
	shift := l - (subBits + 1)
	return shift*subCount + int(v>>shift)
}

// bucketRange returns the smallest value of bucket b and the bucket's width.
func bucketRange(b int) (lower, width uint64) {
	if b < 2*subCount {
		return uint64(b), 1
	}
	shift := b/subCount - 1
	mantissa := uint64(b%subCount + subCount)
	return mantissa << shift, 1 << shift
}

// record adds one latency.
func (h *histogram) record(d time.Duration) {
	h.counts[bucketOf(d)]++
	h.n++
	h.max = max(h.max, d)
}

// merge adds every count of o to h.
func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the latency below which a fraction q of the recorded values
// lie (the middle of the bucket holding that rank), or 0 when h is empty.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			lower, width := bucketRange(b)
			return min(time.Duration(lower+(width-1)/2), h.max)
		}
	}
	return h.max
}
