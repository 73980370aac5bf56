import{a as r}from"./chunk-CCCPL27T.js";import"./chunk-AQJ3TT3D.js";import"./chunk-XEH2XP2X.js";export{r as createLocalTransport};
