from sondos_mcp.cli import main

raise SystemExit(main())
