//go:build !unix

package main

import "time"

// cpuTime is not measured on this platform; the result's cpu field stays 0.
func cpuTime() time.Duration { return 0 }
