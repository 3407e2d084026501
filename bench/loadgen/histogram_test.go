package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketsCoverEveryValueOnce(t *testing.T) {
	// Every bucket's range starts where the previous one ended.
	var next uint64
	for b := range numBuckets {
		lower, width := bucketRange(b)
		if lower != next {
			t.Fatalf("bucket %d starts at %d, want %d", b, lower, next)
		}
		if got := bucketOf(time.Duration(lower)); got != b {
			t.Fatalf("bucketOf(%d) = %d, want %d", lower, got, b)
		}
		if got := bucketOf(time.Duration(lower + width - 1)); got != b {
			t.Fatalf("bucketOf(%d) = %d, want %d", lower+width-1, got, b)
		}
		next = lower + width
	}
	if next != maxValueNs+1 {
		t.Fatalf("buckets end at %d, want %d", next, uint64(maxValueNs+1))
	}
	if got := bucketOf(-time.Second); got != 0 {
		t.Errorf("bucketOf(negative) = %d, want 0", got)
	}
	if got := bucketOf(time.Hour); got != numBuckets-1 {
		t.Errorf("bucketOf(1h) = %d, want the last bucket %d", got, numBuckets-1)
	}
}

func TestQuantileWithinBucketPrecision(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h histogram
	vals := make([]time.Duration, 0, 100000)
	for range cap(vals) {
		// Log-uniform between 10 us and 100 ms, like real latencies.
		d := time.Duration(10e3 * math.Pow(10, rng.Float64()*4))
		vals = append(vals, d)
		h.record(d)
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := vals[int(q*float64(len(vals)))-1]
		got := h.quantile(q)
		if diff := float64(got-exact) / float64(exact); diff > 0.016 || diff < -0.016 {
			t.Errorf("quantile(%v) = %v, exact %v: off by %.2f%%", q, got, exact, diff*100)
		}
	}
	if h.max != vals[len(vals)-1] {
		t.Errorf("max = %v, want %v", h.max, vals[len(vals)-1])
	}
}

func TestMergeAndEmpty(t *testing.T) {
	var a, b, empty histogram
	if got := empty.quantile(0.5); got != 0 {
		t.Errorf("empty quantile = %v, want 0", got)
	}
	for range 10 {
		a.record(time.Millisecond)
	}
	for range 30 {
		b.record(3 * time.Millisecond)
	}
	a.merge(&b)
	if a.n != 40 {
		t.Fatalf("merged n = %d, want 40", a.n)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.25, time.Millisecond}, {0.5, 3 * time.Millisecond}, {1, 3 * time.Millisecond}} {
		got := a.quantile(tc.q)
		if diff := float64(got-tc.want) / float64(tc.want); diff > 0.016 || diff < -0.016 {
			t.Errorf("quantile(%v) = %v, want %v within 1.6%%", tc.q, got, tc.want)
		}
	}
}
