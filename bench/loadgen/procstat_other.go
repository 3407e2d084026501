//go:build !linux

package main

import "errors"

// procCPUSeconds needs /proc; -pid is refused on this platform.
func procCPUSeconds(int) (float64, error) {
	return 0, errors.New("-pid needs Linux's /proc")
}

// procRSSKiB needs /proc; -pid is refused on this platform.
func procRSSKiB(int) (int64, error) {
	return 0, errors.New("-pid needs Linux's /proc")
}
