from bilge.entry import main

main()
