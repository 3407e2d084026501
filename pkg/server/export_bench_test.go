package server

// StartCPU is startCPU for the benchmarks of package server_test.
var StartCPU = startCPU
