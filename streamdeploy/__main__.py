from streamdeploy.launcher import main

main()
