from gsc.cli import main

raise SystemExit(main())
