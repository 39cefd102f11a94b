from streamdeploy.cli import main

main()
