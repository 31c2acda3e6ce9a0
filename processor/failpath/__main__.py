from failpath.cli import main

raise SystemExit(main())
