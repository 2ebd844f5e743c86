"""The commands of mammo_tf: every command's parser and main."""
