toString [ [ ] "" [ ] ]
