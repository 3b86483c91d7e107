from trackbook.cli import main

raise SystemExit(main())
