from mammo_tf.commands.runs import main  # python -m mammo_tf.runs
raise SystemExit(main())
