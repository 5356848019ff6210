module early.longboat.invalid/dblog

go 1.26.0

require github.com/lni/dragonboat/v4 v4.0.0-20250723143628-076c7f6497dc

require github.com/lni/goutils v1.4.0 // indirect
