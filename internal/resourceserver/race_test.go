//go:build race

package resourceserver_test

const raceEnabled = true
