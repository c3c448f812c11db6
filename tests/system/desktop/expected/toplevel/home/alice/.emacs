the dot_emacs bootstrap
(load "~/git/emacs-config/init.el")
