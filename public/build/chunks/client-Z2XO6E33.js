import{a}from"./chunk-CCCPL27T.js";import"./chunk-AQJ3TT3D.js";import"./chunk-XEH2XP2X.js";export{a as createPusherTransport};
