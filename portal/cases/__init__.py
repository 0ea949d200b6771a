"""Citizens' case pages: report a problem, follow my cases, browse public cases."""
